/** tsraft transport: the TCP transport between cluster members, its framing and message validation. */
export {
  TcpTransport,
  PROTOCOL_VERSION,
  type TcpTransportOptions,
  type PeerAddress,
  type PeerStats,
  type TransportCounters,
  type TransportSocket,
  type Hello,
  type HelloReply,
} from './tcp.js';
export { FrameDecoder, FrameError, encodeFrame, frameHeader, FRAME_HEADER_BYTES, DEFAULT_MAX_FRAME_BYTES } from './frame.js';
export { validateMessage, MessageValidationError } from './validate.js';
