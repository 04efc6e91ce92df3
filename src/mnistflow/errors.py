"""The base of every error a user can fix (bad params, missing data, no mirror, no GPU).

Stage entry points print these as one ``error: ...`` line instead of a traceback.
"""


class UserError(Exception):
    """Something the user can put right; the message says what and how."""
