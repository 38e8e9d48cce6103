from cnnbench.cli import main
import sys
sys.exit(main())
