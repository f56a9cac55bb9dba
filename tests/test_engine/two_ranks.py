"""Two CPU processes on this machine for the DDP tests (gloo on the
loopback address)."""
import os
import socket

import torch


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def set_dist_env(rank: int, port: int) -> None:
    """The environment of rank ``rank`` of 2 (``launcher='pytorch'``)."""
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE='2',
                      MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    torch.set_num_threads(1)


def run_two_ranks(worker, *args) -> list:
    """Spawn ``worker(rank, port, *args, results)`` on ranks 0 and 1 and
    return ``[results[0], results[1]]`` (what each rank stored)."""
    mp = torch.multiprocessing.get_context('spawn')
    with mp.Manager() as manager:
        results = manager.dict()
        torch.multiprocessing.start_processes(
            worker, args=(free_port(), *args, results), nprocs=2,
            start_method='spawn')
        return [results[0], results[1]]
