"""Shape tables on tiny networks (MONAI style), validation errors, and known receptive fields."""

from __future__ import annotations

import pytest
import torch

from synth_core.nets import (
    LatentDiscriminator,
    PatchGANDiscriminator,
    StructureDecoder,
    StructureEncoder,
    UNet,
    VGGDiscriminator,
    reparameterize,
    spectral_normed,
)

UNET_CASES = [
    # (kwargs, input shape, condition dim, expected output shape)
    (dict(in_channels=1, out_channels=1, base_channels=4, depth=2), (2, 1, 16, 16), 0, (2, 1, 16, 16)),
    (dict(in_channels=3, out_channels=5, base_channels=4, depth=3, out_activation="none"), (1, 3, 32, 24), 0, (1, 5, 32, 24)),
    (dict(in_channels=2, out_channels=1, base_channels=4, depth=3, condition_dim=4), (3, 2, 32, 32), 4, (3, 1, 32, 32)),
    (dict(in_channels=2, out_channels=1, base_channels=4, depth=3, condition_dim=3, condition_at="decoder"), (2, 2, 32, 32), 3, (2, 1, 32, 32)),
    (dict(in_channels=1, out_channels=1, base_channels=2, depth=6, norm="batch", dropout=0.5), (2, 1, 64, 64), 0, (2, 1, 64, 64)),
    (dict(in_channels=1, out_channels=1, base_channels=2, depth=5, norm="group"), (1, 1, 32, 32), 0, (1, 1, 32, 32)),
]


@pytest.mark.parametrize("kwargs, shape, cond, expected", UNET_CASES)
def test_unet_shapes(kwargs, shape, cond, expected):
    net = UNet(**kwargs)
    c = torch.eye(cond)[torch.arange(shape[0]) % cond] if cond else None
    out = net(torch.rand(shape), c)
    assert tuple(out.shape) == expected
    if kwargs.get("out_activation", "sigmoid") == "sigmoid":
        assert out.min() >= 0 and out.max() <= 1


def test_unet_full_depth_bottleneck_is_1x1():
    net = UNet(in_channels=1, out_channels=1, base_channels=2, depth=5, max_channels=8)
    assert net(torch.rand(1, 1, 32, 32)).shape == (1, 1, 32, 32)  # 32 / 2**5 = 1 pixel bottleneck


def test_unet_condition_changes_output():
    torch.manual_seed(0)
    net = UNet(in_channels=1, out_channels=1, base_channels=4, depth=2, condition_dim=3).eval()
    x = torch.rand(1, 1, 16, 16)
    a = net(x, torch.tensor([[1.0, 0, 0]]))
    b = net(x, torch.tensor([[0, 1.0, 0]]))
    assert not torch.allclose(a, b)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(in_channels=0, out_channels=1), "in_channels"),
        (dict(in_channels=1, out_channels=1, norm="layer"), "norm"),
        (dict(in_channels=1, out_channels=1, dropout=1.5), "dropout"),
        (dict(in_channels=1, out_channels=1, out_activation="relu"), "out_activation"),
        (dict(in_channels=1, out_channels=1, depth=0), "depth"),
    ],
)
def test_unet_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        UNet(**kwargs)


def test_unet_forward_errors():
    net = UNet(in_channels=1, out_channels=1, base_channels=2, depth=3, condition_dim=2)
    with pytest.raises(ValueError, match="divisible"):
        net(torch.rand(1, 1, 20, 20), torch.eye(2)[:1])
    with pytest.raises(ValueError, match="condition"):
        net(torch.rand(1, 1, 16, 16))
    with pytest.raises(ValueError, match="input"):
        net(torch.rand(1, 2, 16, 16), torch.eye(2)[:1])


VGG_CASES = [
    (dict(in_channels=1, base_channels=4, n_down=4), (2, 1, 64, 64), (2, 1, 4, 4), None),
    (dict(in_channels=1, base_channels=4, n_down=4, n_classes=4), (2, 1, 64, 64), (2, 1, 4, 4), (2, 4)),
    (dict(in_channels=2, base_channels=4, n_down=5, n_classes=2), (1, 2, 64, 96), (1, 1, 2, 3), (1, 2)),
]


@pytest.mark.parametrize("kwargs, shape, real_shape, cls_shape", VGG_CASES)
def test_vgg_discriminator_shapes(kwargs, shape, real_shape, cls_shape):
    real, cls = VGGDiscriminator(**kwargs)(torch.rand(shape))
    assert tuple(real.shape) == real_shape
    assert (cls is None) if cls_shape is None else tuple(cls.shape) == cls_shape


def test_vgg_validation():
    with pytest.raises(ValueError, match="n_down"):
        VGGDiscriminator(in_channels=1, n_down=6)
    with pytest.raises(ValueError, match="divisible"):
        VGGDiscriminator(in_channels=1, base_channels=2, n_down=4)(torch.rand(1, 1, 40, 40))


@pytest.mark.parametrize(
    "n_layers, size, out",
    [(3, 256, 30), (4, 512, 30), (3, 64, 6), (2, 64, 14)],
)
def test_patchgan_output_sizes(n_layers, size, out):
    d = PatchGANDiscriminator(in_channels=2, base_channels=2, n_layers=n_layers)
    assert tuple(d(torch.rand(1, 2, size, size)).shape) == (1, 1, out, out)


@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_patchgan_hidden_features_for_feature_matching(n_layers):
    """``with_features``: the same patch map, plus one activation per LeakyReLU (n_layers + 1 maps,
    channels doubling up to 8x base, halving the size per stride-2 layer)."""
    torch.manual_seed(0)
    d = PatchGANDiscriminator(in_channels=2, base_channels=3, n_layers=n_layers, norm="none")
    x = torch.rand(2, 2, 64, 64)
    out, feats = d(x, with_features=True)
    assert torch.equal(out, d(x))
    assert [f.shape[1] for f in feats] == [3 * min(2**i, 8) for i in range(n_layers + 1)]
    assert [f.shape[-1] for f in feats[:n_layers]] == [64 // 2 ** (i + 1) for i in range(n_layers)]
    torch.testing.assert_close(feats[0], torch.nn.functional.leaky_relu(d.net[0](x), 0.2))  # the first layer's


def test_patchgan_receptive_fields():
    assert PatchGANDiscriminator.receptive_field(3) == 70  # pix2pix's 70×70 PatchGAN
    assert PatchGANDiscriminator.receptive_field(1) == 16
    assert PatchGANDiscriminator.receptive_field(4) == 142


def test_patchgan_receptive_field_is_real():
    """Perturbing a pixel outside the 70×70 window of output (0, 0) leaves it unchanged."""
    torch.manual_seed(0)
    d = PatchGANDiscriminator(in_channels=1, base_channels=2, n_layers=3, norm="none").eval()
    x = torch.rand(1, 1, 128, 128)
    y0 = d(x)[0, 0, 0, 0]
    x2 = x.clone()
    x2[0, 0, 80:, 80:] += 1.0  # outside the top-left window
    assert torch.allclose(d(x2)[0, 0, 0, 0], y0)
    x3 = x.clone()
    x3[0, 0, 10, 10] += 1.0  # inside it
    assert not torch.allclose(d(x3)[0, 0, 0, 0], y0)


def test_vae_shapes_and_reparameterize():
    enc = StructureEncoder(image_size=32, latent_dim=8, base_channels=4, n_down=3)
    dec = StructureDecoder(image_size=32, latent_dim=8, base_channels=4, n_up=3)
    mean, logvar = enc(torch.rand(3, 1, 32, 32))
    assert mean.shape == logvar.shape == (3, 8)
    s = dec(reparameterize(mean, logvar))
    assert s.shape == (3, 1, 32, 32) and 0 <= s.min() and s.max() <= 1
    eps = torch.zeros(3, 8)
    assert torch.equal(reparameterize(mean, logvar, eps), mean)
    with pytest.raises(ValueError, match="divisible"):
        StructureEncoder(image_size=30, n_down=3)
    with pytest.raises(ValueError, match="latent"):
        dec(torch.rand(2, 9))


def test_latent_discriminator():
    d = LatentDiscriminator(latent_dim=8, hidden=16)
    assert d(torch.randn(5, 8)).shape == (5, 1)
    with pytest.raises(ValueError, match="latent"):
        d(torch.randn(5, 7))


def test_condition_survives_instance_norm_in_both_modes():
    """A trained-from-scratch U-Net must be able to depend on its condition. With instance norm a
    constant plane concatenated before a conv is removed by the norm; both modes must avoid that."""
    torch.manual_seed(0)
    for mode in ("bottleneck", "decoder"):
        net = UNet(in_channels=1, out_channels=1, base_channels=4, depth=2, condition_dim=2, condition_at=mode)
        if mode == "decoder":  # FiLM starts as identity: give it a non-zero modulation
            for m in net.modules():
                if isinstance(m, torch.nn.Linear):
                    torch.nn.init.normal_(m.weight, std=0.5)
        net.eval()
        x = torch.rand(1, 1, 16, 16)
        a, b = net(x, torch.tensor([[1.0, 0.0]])), net(x, torch.tensor([[0.0, 1.0]]))
        assert (a - b).abs().mean() > 1e-3, mode


def test_condition_is_learnable_in_a_few_steps():
    """Decoder (FiLM) conditioning learns to map one input to two different targets."""
    torch.manual_seed(0)
    net = UNet(in_channels=1, out_channels=1, base_channels=4, depth=2, condition_dim=2, condition_at="decoder")
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    x = torch.rand(2, 1, 16, 16)
    cond = torch.eye(2)
    target = torch.stack([x[0] * 0.2, 1 - x[1] * 0.5])
    for _ in range(150):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(torch.stack([x[0], x[0]]), cond), torch.stack([target[0], 1 - x[0] * 0.5]))
        loss.backward()
        opt.step()
    assert loss.item() < 0.01


def test_one_pixel_instance_norm_keeps_values_and_gets_gradients():
    from synth_core.nets.blocks import norm_layer

    norm = norm_layer("instance", 3)
    x = torch.randn(2, 3, 1, 1, requires_grad=True)
    y = norm(x)
    assert torch.equal(y, x)  # identity at initialisation (weight 1, bias 0)
    y.sum().backward()
    assert norm.weight.grad is not None and norm.bias.grad is not None


def test_spectral_normed_patch_discriminator_bounds_every_layer_and_round_trips():
    torch.manual_seed(0)
    d = spectral_normed(PatchGANDiscriminator(in_channels=2, base_channels=8, n_layers=2, norm="none"))
    raw = {n: p.detach().clone() for n, p in d.named_parameters()}
    with torch.no_grad():
        for _ in range(30):  # each training forward runs one power iteration
            d(torch.randn(2, 2, 32, 32))
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 4
    for m in convs:  # the effective weight's largest singular value is 1 (the raw one's is not)
        sigma = torch.linalg.matrix_norm(m.weight.reshape(m.weight.shape[0], -1), ord=2)
        raw_sigma = torch.linalg.matrix_norm(m.parametrizations.weight.original.reshape(m.weight.shape[0], -1), ord=2)
        assert sigma.item() == pytest.approx(1.0, abs=0.02) and abs(raw_sigma.item() - 1.0) > 0.05
    assert all(torch.equal(p, raw[n]) for n, p in d.named_parameters())  # forwards change no parameter
    copy = spectral_normed(PatchGANDiscriminator(in_channels=2, base_channels=8, n_layers=2, norm="none"))
    copy.load_state_dict(d.state_dict())  # strict: the power-iteration estimate is saved and restored
    d.eval(), copy.eval()
    x = torch.randn(1, 2, 32, 32)
    assert torch.equal(d(x), copy(x))


def test_minibatch_std_known_answers():
    from synth_core.nets.discriminators import minibatch_std

    f = torch.zeros(4, 3, 2, 2)
    f[1] = 2.0  # group (0, 1): every feature differs by 2 -> sd 1; group (2, 3): identical -> ~0
    out = minibatch_std(f, group=2)
    assert out.shape == (4, 1, 2, 2)
    assert torch.allclose(out[:2], torch.ones(2, 1, 2, 2), atol=1e-6)
    assert torch.all(out[2:] < 1e-3)
    whole = minibatch_std(f)  # one group of 4: values 0, 2, 0, 0 -> sd sqrt(0.75)
    assert torch.allclose(whole, torch.full((4, 1, 2, 2), 0.75 ** 0.5), atol=1e-6)
    for bad in (1, 3):
        with pytest.raises(ValueError, match="groups of at least 2 images that divide the batch"):
            minibatch_std(f, group=bad)


def test_vgg_discriminator_with_minibatch_std_sees_the_variety_of_a_group():
    torch.manual_seed(0)
    d = VGGDiscriminator(in_channels=1, base_channels=4, n_down=2, n_classes=2, minibatch_std=True)
    assert d.real_head.in_channels == d.out_channels + 1
    same = torch.rand(1, 1, 16, 16).expand(4, 1, 16, 16).clone()
    varied = torch.rand(4, 1, 16, 16)
    with torch.no_grad():
        d.real_head.weight.zero_()
        d.real_head.weight[0, -1] = 1.0  # read the minibatch-std map alone
        d.real_head.bias.zero_()
        r_same, cls = d(same, group=4)
        r_varied, _ = d(varied, group=4)
    assert cls.shape == (4, 2) and r_same.shape == (4, 1, 4, 4)
    assert float(r_same.max()) < 1e-3 < float(r_varied.min())  # identical images: no spread
    plain = VGGDiscriminator(in_channels=1, base_channels=4, n_down=2, n_classes=2)
    assert plain.real_head.in_channels == plain.out_channels  # off: the thesis's D, checkpoints unchanged
