from __future__ import annotations

import numpy as np
import pytest

from coexplore import ConfigError, UnknownComponentError
from coexplore.accel_model import PARAMETERS, Accelerator, DesignSpace, get_design_space


def test_enumeration_covers_the_grid_once() -> None:
    space = get_design_space("tiny")
    idx = space.all_indices()
    assert idx.shape == (space.size, len(PARAMETERS))
    assert len({tuple(r) for r in idx}) == space.size
    batch = space.batch(idx)
    assert len(batch) == space.size and set(batch.dataflow.tolist()) == {0, 1, 2}


def test_sampling_is_seeded() -> None:
    space = get_design_space("edge")
    a, b = space.sample_indices(100, 7), space.sample_indices(100, 7)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, space.sample_indices(100, 8))


def test_encoding_round_trip_hard_and_relaxed() -> None:
    space = get_design_space("edge")
    idx = space.sample_indices(50, 0)
    enc = space.encode(idx)
    assert enc.shape == (50, space.encoding_dim)
    assert enc.sum(axis=1).tolist() == [len(PARAMETERS)] * 50
    np.testing.assert_array_equal(space.decode(enc), idx)
    relaxed = 0.7 * enc + 0.3 / space.encoding_dim
    np.testing.assert_array_equal(space.decode(relaxed), idx)


def test_index_of_and_errors() -> None:
    space = get_design_space("edge")
    acc = space.batch(space.sample_indices(1, 2)).get(0)
    np.testing.assert_array_equal(
        space.batch(space.index_of(acc)[None, :]).get(0).to_dict(), acc.to_dict()
    )
    with pytest.raises(ConfigError, match="pe_rows=5"):
        space.index_of(Accelerator(pe_rows=5))
    with pytest.raises(UnknownComponentError, match="edge"):
        get_design_space("huge")
    with pytest.raises(ConfigError, match="missing"):
        DesignSpace("bad", {"pe_rows": (1,)})


def test_edge_space_makes_30_fps_bind() -> None:
    from coexplore.accel_model import AnalyticalModel, get_network

    space = get_design_space("edge")
    costs = AnalyticalModel().evaluate(get_network("resnet20"), space.sample(20000, 0))
    share = (costs.fps >= 30).mean()
    assert 0.05 < share < 0.95
