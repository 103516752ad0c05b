"""Device identity: an X.509 certificate for every thing, the fleet CA that signs them, the fleet's IoT policy.

A device authenticates to AWS IoT with a certificate attached to its thing and is authorised by the IoT
policy attached to that certificate. Provisioning with certificates (:mod:`iotfleet.fleet.provision`) gives
every thing exactly one ACTIVE certificate, whose private key stays in the fleet's key store on this
machine; cleanup (:mod:`iotfleet.fleet.cleanup.identity`) takes it all away again.

* :mod:`.certificates`: the fleet CA and device certificates made and signed here (EC P-256), the
  certificate id AWS IoT computes, and the checks shared with the emulator;
* :mod:`.keystore`: the key store on disk (folders 0700, keys 0600), bound to one fleet, account and region;
* :mod:`.policy`: the fleet's least-privilege IoT policy and its check;
* :mod:`.plan`: what the key store, the CA, the policy and each thing's certificate need (reads only);
* :mod:`.apply`: making exactly those changes, in an order a re-run can always finish.
"""
