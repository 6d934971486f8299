"""load_weights from a source that does not save the buffers netc derives from a layer's shape (a
window attention's relative_position_index: timm keeps its copy out of the state_dict). Oracle: the
same network's outputs before and after a round trip through such a state_dict."""
import torch

import netc

SPEC = "input 14x14 16ch\nto-tokens\nW-MSA(2, window=7)\nSW-MSA(2, window=7)\nln\n"


def test_a_source_without_the_derived_index_loads():
    torch.manual_seed(0)
    a = netc.compile(netc.loads(SPEC)).eval()
    with torch.no_grad():
        for p in a.parameters():
            p.uniform_(-0.5, 0.5)
    sd = {k: v for k, v in a.state_dict().items() if not k.endswith("relative_position_index")}
    assert len(sd) < len(a.state_dict())
    b = netc.compile(netc.loads(SPEC)).eval()
    netc.load_weights(b, sd)
    x = torch.randn(2, 16, 14, 14)
    with torch.no_grad():
        torch.testing.assert_close(b(x), a(x))
