"""The tutorial program ndshare started from, on ndshare.

The tutorial ("Share Numpy Array Between Processes With Shared ctypes")
copies a numpy array into ``multiprocessing.sharedctypes.Array`` (1-D only, a
Python loop per element in the child, shareable by inheritance only). Here
the parent shares the array itself; the child zeroes it with one numpy
operation; the parent sees zeros. The same five observations as the
tutorial, the first ten values and the length at each of its five steps,
each printed with who saw it and when.
"""

from multiprocessing import Process

from numpy import ones

import ndshare


# task executed in a child process
def task(array: ndshare.SharedArray) -> None:
    # check some data in the array
    print("child,  as received:       ", array[:10], len(array))
    # change data in the array: one vectorized write, no Python loop
    array[:] = 0.0
    # confirm the data was changed
    print("child,  after zeroing it:  ", array[:10], len(array))


# protect the entry point
if __name__ == "__main__":
    # define the size of the numpy array
    n = 10000
    # create the numpy array
    data = ones((n,))
    print("parent, numpy array:       ", data[:10], data.shape)
    # copy it into shared memory: still a numpy array, of any shape and dtype
    array = ndshare.array(data)
    # confirm contents of the shared array
    print("parent, in shared memory:  ", array[:10], len(array))
    # create a child process; the array pickles as a reference, so this works
    # under every start method, and with Pool, Queue and executors too
    child = Process(target=task, args=(array,))
    # start the child process
    child.start()
    # wait for the child process to complete
    child.join()
    # check some data in the shared array: the child's change is here
    print("parent, after the child:   ", array[:10], len(array))
