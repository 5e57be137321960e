"""The ticket lifecycle: state machine, actions, SLA clocks, processes."""
