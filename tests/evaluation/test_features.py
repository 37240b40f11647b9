"""Feature extractors: UNet.encode, the segmenter-encoder features, and the FID Inception-v3
(architecture, strict loading of a local weight file, one-line errors for bad files)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from synth_core.errors import InputError
from synth_core.evaluation.features import EncoderFeatures, FeatureExtractor, InceptionV3Features, load_inception
from synth_core.evaluation.inception import FIDInceptionV3
from synth_core.nets import UNet


def test_unet_encode_gives_every_encoder_level_and_leaves_forward_alone():
    torch.manual_seed(0)
    net = UNet(in_channels=1, out_channels=3, base_channels=4, depth=3, out_activation="none").eval()
    x = torch.rand(2, 1, 32, 32)
    feats = net.encode(x)
    assert [tuple(f.shape) for f in feats] == [(2, 4, 32, 32), (2, 8, 16, 16), (2, 16, 8, 8), (2, 32, 4, 4)]
    with torch.no_grad():
        before = net(x)
        net.encode(x)
        assert torch.equal(net(x), before)
    with pytest.raises(ValueError, match="divisible"):
        net.encode(torch.rand(1, 1, 30, 30))


def test_encoder_features_are_pooled_levels_batched_and_deterministic():
    torch.manual_seed(0)
    net = UNet(in_channels=1, out_channels=3, base_channels=4, depth=2, out_activation="none")
    ext = EncoderFeatures(net, name="own:test", batch_size=3)
    assert isinstance(ext, FeatureExtractor) and ext.dim == 4 + 8 + 16
    imgs = np.random.default_rng(0).random((7, 32, 32)).astype(np.float32)
    f = ext(imgs)
    assert f.shape == (7, 28) and f.dtype == np.float64
    np.testing.assert_allclose(ext(imgs[:, None]), f)  # (N,1,H,W) accepted, batching does not matter
    with torch.no_grad():
        ref = torch.cat([t.mean(dim=(2, 3)) for t in net.eval().encode(torch.from_numpy(imgs[2:3])[:, None])], 1)
    np.testing.assert_allclose(f[2], ref[0].double().numpy(), rtol=1e-5, atol=1e-6)
    assert ext(np.zeros((0, 32, 32), np.float32)).shape == (0, 28)


def test_inception_matches_the_fid_network_layout():
    net = FIDInceptionV3()
    # torchvision inception_v3(num_classes=1008, aux_logits=False): 94 conv+bn layers and the fc
    assert sum(p.numel() for p in net.parameters()) == 23_850_960
    keys = net.state_dict().keys()
    assert len(keys) == 94 * 6 + 2
    for k in ("Conv2d_1a_3x3.conv.weight", "Mixed_5b.branch_pool.bn.running_var", "Mixed_6e.branch7x7dbl_5.conv.weight",
              "Mixed_7c.branch3x3dbl_3b.bn.num_batches_tracked", "fc.weight"):
        assert k in keys


def test_inception_weights_load_strictly_and_give_2048_features(tmp_path):
    torch.manual_seed(0)
    net = FIDInceptionV3()
    for m in net.modules():  # non-trivial running statistics, so a wrong load would show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "pt_inception.pth"
    torch.save(net.state_dict(), path)
    ext = load_inception(path)
    assert ext.name.startswith("inception:") and len(ext.name) == len("inception:") + 12 and ext.dim == 2048
    imgs = np.random.default_rng(1).random((2, 1, 20, 24)).astype(np.float32)
    f = ext(imgs)
    assert f.shape == (2, 2048) and f.dtype == np.float64 and np.all(np.isfinite(f)) and np.all(f >= 0)
    np.testing.assert_allclose(f, InceptionV3Features(net.eval())(imgs), rtol=1e-5, atol=1e-6)


def test_bad_inception_files_are_one_line_errors(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(InputError, match="nope.pth: no such Inception weights file"):
        load_inception(missing)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file")
    with pytest.raises(InputError, match="garbage.pth: not a readable torch weights file") as err:
        load_inception(garbage)
    assert "\n" not in str(err.value)
    state = FIDInceptionV3().state_dict()
    del state["Mixed_6b.branch1x1.conv.weight"]
    for k in [k for k in state if k.endswith("num_batches_tracked")]:
        del state[k]  # older files lack these; they are filled in, not counted
    tampered = tmp_path / "tampered.pth"
    torch.save(state, tampered)
    with pytest.raises(InputError, match=r"tampered.pth: not the FID Inception-v3 weights: 1 missing key\(s\) "
                                         r"\(e.g. Mixed_6b.branch1x1.conv.weight\)"):
        load_inception(tampered)
    other = tmp_path / "other.pth"
    torch.save({"w": torch.zeros(3)}, other)
    with pytest.raises(InputError, match=r"472 missing key\(s\) .*, 1 unexpected key\(s\) \(e.g. w\)"):
        load_inception(other)
    torch.save([1, 2, 3], other)
    with pytest.raises(InputError, match="not a state dict"):
        load_inception(other)
