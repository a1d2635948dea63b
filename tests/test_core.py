from __future__ import annotations

import pytest

from coexplore import ConfigError, Registry, UnknownComponentError
from coexplore.accel_model import Accelerator


def test_registry_refuses_duplicates_and_lists_names() -> None:
    reg: Registry[int] = Registry("widget")
    reg.register("b", 2)
    reg.register("a", 1)
    with pytest.raises(ValueError, match="twice"):
        reg.register("A", 3)
    with pytest.raises(UnknownComponentError, match="choose one of: a, b"):
        reg.get("c")
    assert reg.get("B") == 2 and reg.names() == ["a", "b"]


def test_accelerator_round_trips_and_validates() -> None:
    acc = Accelerator(pe_rows=12, pe_cols=14, dataflow="rs", mac_bits=16)
    assert Accelerator.from_json(acc.to_json()) == acc
    assert Accelerator.from_yaml(acc.to_yaml()) == acc
    with pytest.raises(ConfigError, match="dataflow.*got 'xx'"):
        Accelerator(dataflow="xx")
    with pytest.raises(ConfigError, match="no field"):
        Accelerator.from_dict({"pe_rowz": 3})
    with pytest.raises(ConfigError, match="bitfusion"):
        Accelerator(mac_mode="bitfusion", mac_bits=16)
