"""An LF that never returns on one item, beside a well-behaved one."""

import time

from loop.core.lf import ABSTAIN, labeling_function


@labeling_function()
def has_link(x):
    return 1 if "http" in x.text.lower() else ABSTAIN


@labeling_function()
def stuck_on_psy(x):
    if "psy" in x.text.lower():
        while True:
            time.sleep(1)
    return ABSTAIN


LFS = [has_link, stuck_on_psy]
