"""ingest_service._pid: the process id without a system call, right after a fork too."""

import os

from ingest_service._pid import current_pid


def test_current_pid_is_the_process_id():
    assert current_pid() == os.getpid()


def test_current_pid_follows_a_fork():
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.close(read)
        os.write(write, f"{current_pid()} {os.getpid()}".encode())
        os._exit(0)
    os.close(write)
    seen = os.read(read, 100).decode().split()
    os.close(read)
    os.waitpid(child, 0)
    assert seen == [str(child), str(child)]
    assert current_pid() == os.getpid() != child
