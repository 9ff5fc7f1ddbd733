"""Errors the runtime raises for input it cannot run. Messages name the node and say what to do."""


class RuntimeInputError(ValueError):
    """Base class: the model or the input given to the runtime cannot be run."""


class UnsupportedOpError(RuntimeInputError):
    """One or more nodes have no converter; every such node is listed in the message."""

    def __init__(self, problems):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"{len(self.problems)} node(s) cannot be run by snnrt:\n{lines}\n"
            "Export the model without these ops, or open an issue with the op and opset."
        )
