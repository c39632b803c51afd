"""The CUDA path gives the CPU path's numbers (skipped on machines without a GPU)."""
import numpy as np
import pytest
import torch

import gptviz

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def test_cuda_trace_equals_cpu(hf_folder):
    cpu = gptviz.load(str(hf_folder), device="cpu")
    gpu = gptviz.load(str(hf_folder), device="auto")
    assert gpu.device.type == "cuda"
    text = "The quick brown fox jumps over the lazy dog"
    a, b = cpu.trace(text), gpu.trace(text)
    np.testing.assert_allclose(b.logits(), a.logits(), atol=1e-3)
    for layer in range(cpu.config.n_layer):
        np.testing.assert_allclose(b.attention(layer), a.attention(layer), atol=1e-4)
    b2 = gpu.trace(text + " again")          # prefix reuse on the device
    np.testing.assert_allclose(b2.logits(), cpu.trace(text + " again").logits(), atol=1e-3)
