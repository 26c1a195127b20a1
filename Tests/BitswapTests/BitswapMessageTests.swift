import XCTest
@testable import Bitswap
