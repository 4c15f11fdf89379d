"""The repository documents itself: the licence pyproject.toml declares, and the spec
format (docs/spec.md) field by field against the JSON Schema, its examples run through
`pkiform validate`."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import ROOT

# the MIT licence as SPDX publishes it (https://spdx.org/licenses/MIT.html), but for
# the copyright line
MIT_BODY = """\
Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def test_the_licence_file_is_the_mit_licence_pyproject_declares() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    # hatchling ships LICEN[CS]E* in the wheel's dist-info/licenses/ by default
    text = (ROOT / "LICENSE").read_text()
    title, blank, copyright_line, blank2, body = text.split("\n", 4)
    assert (title, blank, blank2) == ("MIT License", "", "")
    assert re.fullmatch(r"Copyright \(c\) 20\d\d(-20\d\d)? the pkiform authors", copyright_line)
    assert body == MIT_BODY
