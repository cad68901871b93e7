// Placeholder until the page is written.
export default function DashboardPage() {
  return <div>DashboardPage</div>;
}
