"""Named failures of the classifier package; the CLI turns each into a one-line error."""


class ClassifierError(Exception):
    """Base of every failure the classifier reports to a person (bad data, bad registry)."""


class DataError(ClassifierError):
    """Training or evaluation data that cannot be used as given."""


class RegistryError(ClassifierError):
    """A model registry or version that is missing, broken or refuses the operation."""
