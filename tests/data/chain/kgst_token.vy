# pragma version ~=0.4.0
# A minimal BEP-20 stand-in for KGST, compiled by the chain tests with vyper (MIT, pegbot).
event Transfer:
    sender: indexed(address)
    receiver: indexed(address)
    value: uint256

name: public(String[32])
symbol: public(String[8])
decimals: public(uint8)
totalSupply: public(uint256)
balanceOf: public(HashMap[address, uint256])
minter: public(address)

@deploy
def __init__(_decimals: uint8):
    self.name = "KGST"
    self.symbol = "KGST"
    self.decimals = _decimals
    self.minter = msg.sender

@external
def transfer(_to: address, _value: uint256) -> bool:
    self.balanceOf[msg.sender] -= _value
    self.balanceOf[_to] += _value
    log Transfer(sender=msg.sender, receiver=_to, value=_value)
    return True

@external
def mint(_to: address, _value: uint256):
    assert msg.sender == self.minter
    self.totalSupply += _value
    self.balanceOf[_to] += _value
    log Transfer(sender=empty(address), receiver=_to, value=_value)

@external
def burn(_value: uint256):
    self.balanceOf[msg.sender] -= _value
    self.totalSupply -= _value
    log Transfer(sender=msg.sender, receiver=empty(address), value=_value)
