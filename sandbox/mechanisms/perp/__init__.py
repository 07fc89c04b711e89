"""The perpetual-futures variants of the mechanisms (``LiquidationMechanism.variant_for("perp")``):
fixed-fee, dutch-auction, soft and private, each declared by its lending class in ``variants``.
English auctions and Compound's absorb have no perp variant (``unsupported_markets`` says why)."""
