"""Stand-in for the get-pip.py script that ansible-test bootstraps pip with.

ansible-test installs pip into each virtual environment it makes by running
get-pip.py, which it downloads from a host this lab cannot reach unless a copy
sits in its cache (~/.ansible/test/cache/get_pip_<version>.py). The standard
library already carries a pip (ensurepip): this installs that one, then lets
it install what ansible-test asked for (its pinned pip) from the package index
pip is configured to use. `make sanity` puts this file in the cache.
"""

from __future__ import annotations

import subprocess
import sys

# get-pip.py options that pip's own install command does not know.
GET_PIP_ONLY_OPTIONS = ('--no-setuptools', '--no-wheel')


def main():
    """Install pip with ensurepip, then the packages ansible-test asked for."""
    arguments = sys.argv[1:]
    python = sys.executable

    subprocess.run([python, '-m', 'ensurepip', '--default-pip'], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([python, '-m', 'pip', 'install', '--quiet'] + [arg for arg in arguments if arg not in GET_PIP_ONLY_OPTIONS], check=True)

    # ensurepip on Python < 3.12 also installs setuptools, which get-pip.py
    # would have left out when told so.
    if '--no-setuptools' in arguments:
        subprocess.run([python, '-m', 'pip', 'uninstall', '--yes', '--quiet', 'setuptools'], check=False)


if __name__ == '__main__':
    main()
