import sys

from featmech.cli.main import main

sys.exit(main())
