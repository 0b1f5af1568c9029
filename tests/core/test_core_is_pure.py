import subprocess
import sys


def test_core_imports_no_service_packages():
    code = (
        "import sys, loop.core.apply, loop.core.label_model, loop.core.sampling, "
        "loop.core.end_model, loop.core.analysis, loop.core.simulation;"
        "bad = [m for m in ('flask', 'rq', 'redis', 'loop.storage', 'loop.web') "
        "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_public_names_at_the_package_root():
    from loop import ABSTAIN, LabelModel, MajorityVote, labeling_function  # noqa: F401

    assert ABSTAIN == -1
