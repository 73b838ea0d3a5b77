"""One exception type for every user-facing failure: what went wrong, and how to fix it."""


class WebslmError(Exception):
    """A problem the user can act on. The CLI prints it without a stack trace."""

    def __init__(self, problem: str, fix: str | None = None):
        self.problem = problem
        self.fix = fix
        super().__init__(problem if fix is None else f"{problem}\n  fix: {fix}")
