"""``python -m edge_runtime.evaluation.synth.samples [DIR]``: write the README's sample files."""

import sys

from edge_runtime.evaluation.synth.samples import main

sys.exit(main())
