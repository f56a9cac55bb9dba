"""The pinned stack and its known traps (README, "The pinned stack")."""
import pkg_resources  # noqa: F401  (setuptools < 81 keeps it)
import setuptools
import torch
import torchvision
from mmengine.config import Config
from mmengine.utils import digit_version


def test_setuptools_keeps_pkg_resources():
    assert digit_version(setuptools.__version__) < digit_version('81')


def test_torchvision_ops_load_against_installed_torch():
    # Fails with "operator torchvision::nms does not exist" when torch comes
    # from a CPU-only local wheel that torchvision was not built against.
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]])
    keep = torchvision.ops.nms(boxes, torch.tensor([0.9, 0.8]), 0.5)
    assert keep.tolist() == [0]


def test_mmcv_ops_are_compiled():
    from mmcv.ops import RoIAlign
    feats = torch.arange(16.).view(1, 1, 4, 4)
    rois = torch.tensor([[0., 0., 0., 4., 4.]])
    out = RoIAlign((2, 2), spatial_scale=1., sampling_ratio=1,
                   aligned=False)(feats, rois)
    assert out.shape == (1, 1, 2, 2)


def test_mmpretrain_models_import_and_build_convnext():
    from mmpretrain.models import ConvNeXt
    net = ConvNeXt(arch='tiny', out_indices=(2, ), gap_before_final_norm=False)
    out = net(torch.zeros(1, 3, 64, 64))
    assert out[0].shape == (1, 384, 4, 4)


def test_mmdet_scoped_base_config_resolves(tmp_path):
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text("_base_ = 'mmdet::_base_/default_runtime.py'\n")
    cfg = Config.fromfile(str(cfg_file))
    assert cfg.default_scope == 'mmdet'
    assert 'checkpoint' in cfg.default_hooks
