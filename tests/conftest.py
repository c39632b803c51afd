import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def hf_model():
    from tests.reference import make_hf_model
    return make_hf_model()


@pytest.fixture(scope="session")
def hf_folder(hf_model, tmp_path_factory):
    d = tmp_path_factory.mktemp("hf_st")
    hf_model.save_pretrained(d)
    return d
