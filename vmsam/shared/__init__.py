"""What both ends use: the configuration, the WLCG message codec (one encoder, one
decoder), the STOMP transport, the error tree and deadlines. Imports nothing from
``vmsam.vm`` or ``vmsam.server``."""
