"""Errors of the storage layer; workflows wrap them into their own."""


class StorageError(Exception):
    """Base of everything the store and the blob stores raise on purpose."""


class BlobTooLarge(StorageError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"file is larger than the limit of {limit // (1024 * 1024)} MB")
        self.limit = limit


class EmptyBlob(StorageError):
    def __init__(self) -> None:
        super().__init__("file is empty")


class BlobNotFound(StorageError):
    def __init__(self, key: str) -> None:
        super().__init__(f"blob {key} is not in the store")
        self.key = key


class BlobStoreUnavailable(StorageError):
    """The medium could not be reached or refused the operation."""
