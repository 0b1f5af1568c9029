"""An LF module whose second LF reads a field the items lack (a new user's typo): it
raises on every item, and the dashboard says so above the LF table."""

from loop import ABSTAIN, labeling_function


@labeling_function()
def has_link(x):
    return 1 if "http" in x.text else ABSTAIN


@labeling_function()
def in_spam_section(x):
    return 1 if x.section == "spam" else ABSTAIN
