"""The pytest plugin loads in a fresh pytest run outside the repository: the SOT-MRAM example, copied to a
temporary folder, runs with hetsim's fixtures and nothing configured."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sot-mram"
#: Laws the example's technology may break only because of a defect of hetsim's own (none known today).
KNOWN: set[str] = set()


@pytest.mark.slow
def test_the_plugin_runs_the_example_from_a_folder_outside_the_repository(tmp_path):
    work = tmp_path / "user"
    shutil.copytree(EXAMPLE, work)
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--tb=short",
                          "-o", "addopts="], cwd=work, capture_output=True, text=True, timeout=900)
    text = out.stdout + out.stderr
    assert "rootdir: " + str(work) in text                      # not the repository's pytest.ini
    assert re.search(r"hetsim \S+: test kit loaded \(\d+ laws", text), text   # the plugin's header
    assert "fixture 'hetsim_check' not found" not in text and "fixture 'hetsim_workload' not found" not in text
    passed = int(re.search(r"(\d+) passed", text).group(1))
    failed = int(m.group(1)) if (m := re.search(r"(\d+) failed", text)) else 0
    assert (passed, failed) in ((4, 0), (3, 1)), text
    if failed:                                                   # only a known defect of hetsim's
        assert "FAILED test_sot_mram.py::test_every_law" in text, text
        broken = set(re.findall(r"^E\s+(\w+) \(", text, flags=re.M))
        assert broken == KNOWN, text
    else:
        assert out.returncode == 0, text
