"""Where the shared data sets are: `$HWADMIN_SHARED_DATA`, else `shared/data` beside the repository.

One home for the path, read by the commands (through `plm.datasets.shared_data_dir`), the
standalone labelled-set builder, the benchmarks and the tests. No Django import.
"""

import os
from pathlib import Path

ENV = "HWADMIN_SHARED_DATA"
REPOSITORY = Path(__file__).resolve().parent.parent


def shared_data_dir():
    return Path(os.environ.get(ENV) or REPOSITORY.parent / "shared" / "data")
