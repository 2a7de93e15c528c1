"""The seed tutorial's program, on ndshare.

The original copies a numpy array into ``multiprocessing.sharedctypes.Array``
(1-D only, a Python loop per element in the child, shareable by inheritance
only). Here the parent shares the array itself; the child zeroes it with one
numpy operation; the parent sees zeros. Same five observations as the
tutorial: the first ten values and the length, at each of its five steps.
"""

from multiprocessing import Process

from numpy import ones

import ndshare


# task executed in a child process
def task(array: ndshare.SharedArray) -> None:
    # check some data in the array
    print(array[:10], len(array))
    # change data in the array: one vectorized write, no Python loop
    array[:] = 0.0
    # confirm the data was changed
    print(array[:10], len(array))


# protect the entry point
if __name__ == "__main__":
    # define the size of the numpy array
    n = 10000
    # create the numpy array
    data = ones((n,))
    print(data[:10], data.shape)
    # copy it into shared memory: still a numpy array, of any shape and dtype
    array = ndshare.array(data)
    # confirm contents of the shared array
    print(array[:10], len(array))
    # create a child process; the array pickles as a reference, so this works
    # under every start method, and with Pool, Queue and executors too
    child = Process(target=task, args=(array,))
    # start the child process
    child.start()
    # wait for the child process to complete
    child.join()
    # check some data in the shared array
    print(array[:10], len(array))
