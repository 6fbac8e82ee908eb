"""Babysitting the learning process: the lecture's checks, monitors and diagnoses as tools."""

from numnet.babysit.compare import load_runs as load_runs
from numnet.babysit.diagnose import Diagnosis as Diagnosis
from numnet.babysit.diagnose import diagnose as diagnose
from numnet.babysit.diagnose import diagnose_run as diagnose_run
from numnet.babysit.inspect_init import inspect_init as inspect_init
from numnet.babysit.monitor import Monitor as Monitor
