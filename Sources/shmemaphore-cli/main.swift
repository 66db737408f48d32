// Placeholder: the tool is being written.
print("shmemaphore")
