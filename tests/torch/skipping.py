"""What a PyTorch check does when PyTorch is missing, written once for the checks in this folder
(tests/torch/run.sh does the same in shell): print "SKIP: <what>: <reason>", append that line to
LV_SKIP_LOG when set, and exit 0, or 1 under LV_REQUIRE_ALL=1 (CI, which installs everything,
counts a skip as a failure). Imports nothing but the standard library, so it works before the
torch import it guards."""
import os
import sys


def skip(what, reason):
    line = f"SKIP: {what}: {reason}"
    print(line)
    if os.environ.get("LV_SKIP_LOG"):
        with open(os.environ["LV_SKIP_LOG"], "a") as f:
            f.write(line + "\n")
    if os.environ.get("LV_REQUIRE_ALL") == "1":
        print("LV_REQUIRE_ALL=1: a skipped check is a failure")
        sys.exit(1)
    sys.exit(0)
