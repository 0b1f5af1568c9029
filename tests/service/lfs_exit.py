"""An LF that ends its process on some items (as ``os._exit`` or a crash in a C
extension does), beside a well-behaved one."""

import os

from loop.core.lf import ABSTAIN, labeling_function


@labeling_function()
def has_link(x):
    return 1 if "http" in x.text.lower() else ABSTAIN


@labeling_function()
def exits_on_psy(x):
    if "psy" in x.text.lower():
        os._exit(3)
    return ABSTAIN


LFS = [has_link, exits_on_psy]
