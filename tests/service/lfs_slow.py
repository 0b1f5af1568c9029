"""An LF that takes its time, so a test can kill a worker mid-job."""

import time

from loop.core.lf import ABSTAIN, labeling_function


@labeling_function()
def slow_link(x):
    time.sleep(0.01)
    return 1 if "http" in x.text.lower() else ABSTAIN


LFS = [slow_link]
