// The one pool for blocking work lives in its own module (BlockingPool) so that the storage
// modules below P2PCore use it too; everything that imports P2PCore keeps seeing it.
@_exported import BlockingPool
