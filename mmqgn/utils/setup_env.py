import datetime
import warnings

from mmengine import DefaultScope


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every mmqgn (and mmdet) module so that they are registered.

    Configs do not need it: their ``custom_imports`` import mmqgn, whose
    registries import mmqgn's and MMDetection's modules when first asked
    (mmqgn/registry.py), so MMDetection's own tools run them. Call it to
    make ``'mmqgn'`` the default scope outside a Runner (e.g. for
    ``Runner.build_dataloader``, which builds from MMEngine's registries).

    Args:
        init_default_scope (bool): Whether to set the default scope to
            ``'mmqgn'`` so that registries look up mmqgn modules first.
    """
    import mmdet.datasets  # noqa: F401
    import mmdet.engine  # noqa: F401
    import mmdet.evaluation  # noqa: F401
    import mmdet.models  # noqa: F401
    import mmdet.visualization  # noqa: F401

    import mmqgn.datasets  # noqa: F401
    import mmqgn.engine  # noqa: F401
    import mmqgn.evaluation  # noqa: F401
    import mmqgn.models  # noqa: F401

    if not init_default_scope:
        return
    never_created = (DefaultScope.get_current_instance() is None
                     or not DefaultScope.check_instance_created('mmqgn'))
    if never_created:
        DefaultScope.get_instance('mmqgn', scope_name='mmqgn')
        return
    current_scope = DefaultScope.get_current_instance()
    if current_scope.scope_name != 'mmqgn':
        warnings.warn('The current default scope '
                      f'"{current_scope.scope_name}" is not "mmqgn", '
                      '`register_all_modules` will force the current '
                      'default scope to be "mmqgn". If this is not '
                      'expected, please set `init_default_scope=False`.')
        new_name = f'mmqgn-{datetime.datetime.now()}'
        DefaultScope.get_instance(new_name, scope_name='mmqgn')
