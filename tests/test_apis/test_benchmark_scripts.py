"""Smoke tests of the speed tools on the tiny config (1 timed step each;
the figures themselves are not checked)."""
import pytest


def test_benchmark_tool(load_script, tiny_config, synthetic_root, capsys):
    benchmark = load_script('tools/analysis_tools/benchmark.py')
    data_root = str(synthetic_root / 'CUHK-SYSU') + '/'
    figures = benchmark.main([
        tiny_config, '--num-iters', '1', '--warmup', '1', '--cfg-options',
        f'train_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        'train_dataloader.batch_size=1'
    ])
    assert set(figures) == {
        'inference_img_per_s', 'train_iter_per_s', 'train_img_per_s'
    }
    assert all(v > 0 for v in figures.values())
    assert figures['train_img_per_s'] == pytest.approx(
        figures['train_iter_per_s'])  # batch size 1
    out = capsys.readouterr().out
    assert 'inference:' in out and 'training:' in out


def test_benchmark_tool_single_task(load_script, tiny_config,
                                   synthetic_root):
    benchmark = load_script('tools/analysis_tools/benchmark.py')
    data_root = str(synthetic_root / 'CUHK-SYSU') + '/'
    figures = benchmark.main([
        tiny_config, '--task', 'inference', '--num-iters', '2', '--warmup',
        '0', '--cfg-options',
        f'test_dataloader.dataset.data_root={data_root}'
    ])
    assert list(figures) == ['inference_img_per_s']


def test_bench_oim_overhead(load_script, capsys):
    bench = load_script('benchmarks/bench_oim_overhead.py')
    report = bench.main([
        '--tiny', '--height', '96', '--width', '128', '--batch-size', '1',
        '--num-iters', '1', '--warmup', '0'
    ])
    frcnn, oim = report['Faster R-CNN'], report['OIM']
    # same weights but the identity branch: the same detections
    assert frcnn['dets_per_img'] == oim['dets_per_img']
    assert oim['params_m'] > frcnn['params_m']
    assert set(report['overhead']) == {'train', 'inference'}
    assert 'OIM overhead' in capsys.readouterr().out


def test_bench_query_major(load_script, synthetic_root):
    bench = load_script('benchmarks/bench_query_major.py')
    report = bench.main([
        '--data-root', str(synthetic_root / 'CUHK-SYSU'), '--num-queries',
        '1', '--gallery-batch-size', '4'
    ])
    # the two loops score the same pairs identically, with QSSE and with
    # cached features (without QSSE)
    assert set(report) == {'qsse', 'qrpn-qsimnet', 'qsimnet'}
    for variant in report.values():
        assert variant['pairs'] > 0 and variant['max_abs_diff'] <= 1e-5


def test_bench_qgn_cost(load_script):
    bench = load_script('benchmarks/bench_qgn_cost.py')
    report = bench.main([
        '--height', '128', '--width', '160', '--proposals', '5',
        '--max-per-img', '5', '--num-iters', '1', '--warmup', '0'
    ])
    assert set(report['seconds_per_gallery_image']) == {
        'QGN', 'QGN without QSSE', 'OIM'
    }
    assert all(v > 0 for v in report['seconds_per_gallery_image'].values())
