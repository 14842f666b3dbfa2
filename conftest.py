"""Repository-level pytest configuration.

The regress plugin itself is registered through the ``pytest11`` entry point (pip install
makes it active everywhere); here we only enable pytester for the plugin's own tests.
"""

pytest_plugins = ["pytester"]
