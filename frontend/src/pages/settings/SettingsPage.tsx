// Placeholder until the page is written.
import type { Me } from "../../api/types";

export default function SettingsPage({ me }: { me: Me }) {
  return <div>{me.user.email}</div>;
}
