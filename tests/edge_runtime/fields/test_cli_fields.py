"""`python -m edge_runtime recognize --fields`: the fields of the sets asked in the JSON line (the header read again
for a receipt, as the server does); a bad set fails before any model loads. One model load: the CLI loads its own."""

from __future__ import annotations

import json

from edge_runtime.cli import main as edge_main
from tests.edge_runtime.fields.render import RECEIPT, RECEIPT_FIELDS, page


def test_recognize_prints_the_asked_fields(tmp_path, capsys):
    image = tmp_path / "receipt.png"
    image.write_bytes(page(RECEIPT))
    assert edge_main(["recognize", str(image), "--fields", "receipt", "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    found = {f["name"]: f for f in line["fields"]}
    assert found["company"]["text"] == RECEIPT_FIELDS["company"] and found["total"]["value"] == "15.40"
    assert line["lines"] and line["key_values"] == []


def test_an_unknown_set_fails_before_any_model_loads(tmp_path, capsys):
    assert edge_main(["recognize", str(tmp_path / "missing.png"), "--fields", "nosuch"]) == 2
    assert "[FIELD_SET_UNKNOWN]" in capsys.readouterr().err
