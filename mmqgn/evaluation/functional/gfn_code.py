"""Layout of the GFN query code (gfn_seqnext.md §3.1, §8.1 decision 3).

With eval-mode BN the GFN score of a query against a unit gallery scene
embedding y (D,) needs only a per-query code (3 D + 3,)::

    [u (D), v2 (D), v1 (D), k0 (1), v0 (1), alpha (1)]
    cos = (u . y + k0) / sqrt(v2 . y^2 + v1 . y + v0)
    score = sigmoid(cos / alpha)

``GalleryFilterNetwork.query_code`` (torch) writes it in the order of
:data:`CODE_FIELDS`; the evaluator's numpy ``score_from_code`` reads it with
:func:`split_code`. Both import this module, so the layout is defined once;
it uses slicing only and works on numpy arrays and torch tensors alike (no
numpy / torch import, as the evaluation core must not need torch).
"""

#: the fields of a query code, in storage order
CODE_FIELDS = ('u', 'v2', 'v1', 'k0', 'v0', 'alpha')


def code_size(dim: int) -> int:
    """Length 3 D + 3 of the code for scene embeddings of dim D."""
    return 3 * dim + 3


def code_dim(size: int) -> int:
    """D of a code of length ``size``; ValueError unless size = 3 D + 3
    with D >= 1."""
    dim, rest = divmod(size - 3, 3)
    if dim < 1 or rest:
        raise ValueError('a GFN query code has 3 D + 3 entries '
                         f'({", ".join(CODE_FIELDS)}), got {size}')
    return dim


def split_code(code) -> dict:
    """The fields of codes (..., 3 D + 3): ``u``, ``v2``, ``v1`` (..., D)
    and ``k0``, ``v0``, ``alpha`` (..., 1), views of ``code``."""
    d = code_dim(code.shape[-1])
    sizes = dict(u=d, v2=d, v1=d, k0=1, v0=1, alpha=1)
    fields, start = {}, 0
    for name in CODE_FIELDS:
        fields[name] = code[..., start:start + sizes[name]]
        start += sizes[name]
    return fields
