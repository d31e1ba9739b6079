"""The README snippet parser (tests/support/snippets.py): which fences it takes, and its markers."""

from __future__ import annotations

from pathlib import Path

from tests.support.snippets import snippets

DOCUMENT = """# title

```sh
echo one
```

<!-- not tested: runs forever -->
```bash
sleep infinity
```

- a list item with an indented fence:

  ```python
  print("two")
  ```

<!-- not tested: -->
```console
$ true
```

<!-- continues the snippet above -->
```python
print("three")
```

```yaml
key: value
```

```
plain text
```
"""


def test_takes_shell_and_python_fences_with_their_markers(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_text(DOCUMENT)
    found = snippets(path)
    assert [(s.line, s.lang, s.text, s.skip_reason, s.continues) for s in found] == [
        (3, "sh", "echo one\n", None, False),
        (8, "bash", "sleep infinity\n", "runs forever", False),
        (14, "python", 'print("two")\n', None, False),
        (19, "console", "$ true\n", "", False),  # a marker without a reason: the README test refuses it
        (24, "python", 'print("three")\n', None, True),
    ]
