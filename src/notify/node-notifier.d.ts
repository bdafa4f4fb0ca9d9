/**
 * The part of node-notifier (10.x) the desktop channel uses, declared here because the package is loaded
 * lazily and may be absent (@types/node-notifier is not a dependency). On Linux it runs `notify-send`
 * (libnotify-bin) with these options. Remove this file if @types/node-notifier is ever added.
 */
declare module 'node-notifier' {
  interface Notification {
    title?: string;
    message?: string;
    /** low, normal or critical. */
    urgency?: string;
    /** Seconds before it expires; false to keep it. */
    timeout?: number | false;
    /** Wait for the user: never, vigil only tells. */
    wait?: boolean;
    category?: string;
  }
  type Callback = (error: Error | null, response?: string) => void;
  const notifier: { notify(notification: Notification, callback?: Callback): unknown };
  export default notifier;
}
