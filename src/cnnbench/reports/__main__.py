import sys

from cnnbench.reports.cli import main

sys.exit(main())
