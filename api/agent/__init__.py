"""The specialists' workspace: server-rendered pages at /agent/ (issue #16)."""
