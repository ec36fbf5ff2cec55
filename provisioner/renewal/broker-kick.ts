// Cutting one board's open MQTT session on mosquitto 2.0 without restarting it. A reloaded
// CRL only stops new handshakes (docs/pki.md); the open session of a revoked board stays.
// The broker profile makes the certificate CN the client id (use_username_as_clientid), so a
// second connection under the board's CN takes the session over and mosquitto closes the
// board's connection (publishing its last will). The CA issues that CN a certificate valid
// for ten minutes, used once, then revoked; the board's reconnect then meets the CRL.
import { issueDeviceCert, revoke, type Ca } from '../../certs/index.ts';
import { connectFleetMqtt, type BrokerAddress } from '../fleet/fleet-mqtt.ts';

export interface KickResult {
  deviceId: string;
  /** The one-use certificate the takeover was made with (revoked again). */
  kickSerial: string;
}

export async function kickSession(ca: Ca, deviceId: string, broker: BrokerAddress, brokerCaPem: string): Promise<KickResult> {
  const id = await issueDeviceCert(ca, { cn: deviceId, days: 10 / 1440 });
  try {
    const client = await connectFleetMqtt(broker, { certPem: id.chainPem, keyPem: id.privateKeyPem, caPem: brokerCaPem }, { extra: { clean: true } });
    await client.endAsync();
  } finally {
    await revoke(ca, id.serialHex, 'superseded');
  }
  return { deviceId, kickSerial: id.serialHex };
}
