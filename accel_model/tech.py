"""Technology constants of the analytical model, each with its source.

Absolute energy tables from trusted sources disagree by up to 4x (RESEARCH.md section 2), so
the model is built to get *ratios* right: MAC vs register file vs buffer vs DRAM, and how each
scales with bit-width and memory size. All figures are 45 nm (Horowitz, ISSCC 2014) unless
stated otherwise.
"""

from __future__ import annotations

import dataclasses

__all__ = ["Tech", "DEFAULT_TECH", "SOURCES"]


@dataclasses.dataclass(frozen=True)
class Tech:
    # Energy, pJ.
    mult_pj_per_bit2: float = 0.2 / 64  # 8-bit int multiply 0.2 pJ -> per (w_bits * a_bits)
    add_pj_per_bit: float = 0.03 / 8  # 8-bit int add 0.03 pJ -> per accumulator bit
    sram_pj_per_bit_8kib: float = 10.0 / 64  # 64-bit read from an 8 KB SRAM: 10 pJ
    sram_ref_bytes: int = 8 * 1024
    noc_pj_per_bit: float = 0.04  # array NoC hop: about 2x a small RF access (Eyeriss 1:2)
    dram_pj_per_bit: float = 2000.0 / 64  # DRAM 1.3-2.6 nJ per 64 bits: 2.0 nJ taken
    bitfusion_energy_overhead: float = 1.15  # shift-add fusion logic on top of the bricks
    # Area, mm^2.
    mac_mm2_8x8: float = 0.0004  # 8x8 multiplier + accumulator
    bitfusion_area_overhead: float = 1.4  # bit-brick array with fusion shifters vs plain 8x8
    pe_overhead_mm2: float = 0.0002  # PE control, pipeline registers, NoC port
    rf_mm2_per_bit: float = 2.5e-6  # latch/flip-flop register file
    sram_mm2_per_kib: float = 0.006  # 6T SRAM ~0.35 um^2/bit with ~2x periphery
    fixed_mm2: float = 0.05  # controller, DRAM interface
    # Static power, mW per mm^2 (low-power process).
    leak_mw_per_mm2: float = 2.0

    def rf_pj_per_bit(self, size_bytes):  # noqa: ANN001 - float or ndarray
        """Access energy per bit of a memory of ``size_bytes``: grows with sqrt(size)."""
        return self.sram_pj_per_bit_8kib * (size_bytes / self.sram_ref_bytes) ** 0.5


DEFAULT_TECH = Tech()

SOURCES: dict[str, str] = {
    "mult_pj_per_bit2": "Horowitz ISSCC'14, 45 nm: 8-bit int mult 0.2 pJ; multiplier energy "
    "grows with w_bits*a_bits (RESEARCH.md s.2)",
    "add_pj_per_bit": "Horowitz ISSCC'14: 8-bit add 0.03 pJ, 32-bit add 0.1 pJ (linear in bits)",
    "sram_pj_per_bit_8kib": "Horowitz ISSCC'14: 64-bit read from an 8 KB SRAM 10 pJ; other sizes "
    "scale with sqrt(size) (wire length of a square array)",
    "noc_pj_per_bit": "Eyeriss normalised access energy RF:NoC:buffer:DRAM = 1:2:6:200",
    "dram_pj_per_bit": "Horowitz ISSCC'14: DRAM 1.3-2.6 nJ per 64 bits",
    "bitfusion_*": "Bit Fusion (ISCA'18): 2-bit bricks fused to 8x8; overheads are estimates",
    "mac_mm2_8x8, sram_mm2_per_kib, rf_mm2_per_bit": "45 nm standard-cell / 6T-SRAM estimates",
    "leak_mw_per_mm2": "low-power 45 nm estimate",
}
